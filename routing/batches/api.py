from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from optiroute.schema import error_responses
from routing.access.auth import ApiKeyAuthentication
from routing.batches.serializers import BatchInputSerializer, BatchOutputSerializer, BatchResultsSerializer
from routing.batches.services import batch_create, batch_results, batch_summary, get_batch_for_key


class BatchCreateView(APIView):
    """Many requests, one model: routing picks it from a ~2% sample; Celery workers answer the rest."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request={"application/json": BatchInputSerializer},
                   responses={202: BatchOutputSerializer, **error_responses(400, 401, 403, 404, 415)})
    def post(self, request: Request) -> Response:
        data = BatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        batch = batch_create(api_key=request.auth, model=v["model"], requests=v["requests"],
                             options=v.get("optiroute") or {})
        return Response(batch_summary(batch), status=202)


class BatchDetailView(APIView):
    """A batch's progress, the model its sample chose and why."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(responses={200: BatchOutputSerializer, **error_responses(401, 404)})
    def get(self, request: Request, batch_id: uuid.UUID) -> Response:
        return Response(batch_summary(get_batch_for_key(request.auth, batch_id)))


class BatchResultsView(APIView):
    """Every request's answer (or error), in the order they were sent."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(responses={200: BatchResultsSerializer, **error_responses(401, 404)})
    def get(self, request: Request, batch_id: uuid.UUID) -> Response:
        batch = get_batch_for_key(request.auth, batch_id)
        return Response({"object": "list", "data": batch_results(batch)})
