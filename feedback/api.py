from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from feedback.serializers import FeedbackInputSerializer, FeedbackOutputSerializer
from feedback.services import feedback_record
from optiroute.schema import error_responses
from routing.access.auth import ApiKeyAuthentication


class FeedbackView(APIView):
    """Thumbs up or down on an answered call, by its decision id; the router learns from it."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request={"application/json": FeedbackInputSerializer},
                   responses={200: FeedbackOutputSerializer, **error_responses(400, 401, 404, 409, 415)})
    def post(self, request: Request) -> Response:
        data = FeedbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        feedback = feedback_record(api_key=request.auth, **data.validated_data)
        return Response(FeedbackOutputSerializer(feedback).data)
