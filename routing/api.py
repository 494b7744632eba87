from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from routing.auth import ApiKeyAuthentication
from routing.serializers import DecisionSerializer, RouteInputSerializer
from routing.services import decision_make


class RouteView(APIView):
    """A routing decision with its explanation; no LLM is called."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request=RouteInputSerializer, responses={200: DecisionSerializer})
    def post(self, request: Request) -> Response:
        data = RouteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        routed = decision_make(text=v["text"], profile=v.get("profile"), preferences=v.get("preferences"),
                               constraints=v.get("constraints"), cohort=request.user.cohort,
                               api_key=request.auth, strategy=v.get("strategy"),
                               output_tokens=v.get("max_output_tokens"))
        return Response(DecisionSerializer(routed.decision.as_dict()).data)
