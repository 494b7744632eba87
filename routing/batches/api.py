from __future__ import annotations

import uuid

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from optiroute.api_errors import OptiRouteError
from optiroute.schema import error_responses
from routing.access.auth import ApiKeyAuthentication
from routing.batches.export import RESULT_FORMATS, results_download
from routing.batches.serializers import (
    BatchInputSerializer,
    BatchOutputSerializer,
    BatchResultsSerializer,
    BatchResumeSerializer,
)
from routing.batches.services import (
    batch_cancel,
    batch_confirm,
    batch_create,
    batch_results,
    batch_resume,
    batch_summary,
    get_batch_for_key,
)


class BatchCreateView(APIView):
    """Many requests, one model: chosen on a ~2% sample and proposed; workers answer the rest once confirmed."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request={"application/json": BatchInputSerializer},
                   responses={202: BatchOutputSerializer, **error_responses(400, 401, 403, 404, 415)})
    def post(self, request: Request) -> Response:
        data = BatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        batch = batch_create(api_key=request.auth, model=v["model"], requests=v["requests"],
                             options=v.get("optiroute") or {}, auto_run=v["auto_run"],
                             budget_usd=v.get("budget_usd"), max_tokens=v.get("max_tokens"))
        return Response(batch_summary(batch), status=202)


class BatchDetailView(APIView):
    """A batch's progress (done, failed, remaining, cost so far, time left), its proposal and why."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(responses={200: BatchOutputSerializer, **error_responses(401, 404)})
    def get(self, request: Request, batch_id: uuid.UUID) -> Response:
        return Response(batch_summary(get_batch_for_key(request.auth, batch_id)))


class BatchConfirmView(APIView):
    """Run a proposed batch with the proposed model."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request=None, responses={200: BatchOutputSerializer, **error_responses(401, 404, 409)})
    def post(self, request: Request, batch_id: uuid.UUID) -> Response:
        batch = batch_confirm(batch=get_batch_for_key(request.auth, batch_id))
        return Response(batch_summary(batch))


class BatchCancelView(APIView):
    """Stop a batch; rows being answered finish, no other starts. Resume goes on."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request=None, responses={200: BatchOutputSerializer, **error_responses(401, 404, 409)})
    def post(self, request: Request, batch_id: uuid.UUID) -> Response:
        batch = batch_cancel(batch=get_batch_for_key(request.auth, batch_id))
        return Response(batch_summary(batch))


class BatchResumeView(APIView):
    """Go on with a cancelled batch, or one its budget stopped (with a new budget)."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request={"application/json": BatchResumeSerializer},
                   responses={200: BatchOutputSerializer, **error_responses(400, 401, 404, 409)})
    def post(self, request: Request, batch_id: uuid.UUID) -> Response:
        data = BatchResumeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = batch_resume(batch=get_batch_for_key(request.auth, batch_id),
                             budget_usd=data.validated_data.get("budget_usd"))
        return Response(batch_summary(batch))


class BatchResultsView(APIView):
    """Every request's answer (or error), in the order they were sent: JSON, or a CSV or JSONL download."""

    authentication_classes = [ApiKeyAuthentication]

    # Not `format`: DRF reads that query parameter to pick a renderer.
    @extend_schema(parameters=[OpenApiParameter("download", OpenApiTypes.STR, enum=list(RESULT_FORMATS),
                                                description="csv or jsonl: a file rather than JSON")],
                   responses={(200, "application/json"): BatchResultsSerializer,
                              **{(200, media): OpenApiTypes.STR for media in RESULT_FORMATS.values()},
                              **error_responses(400, 401, 404)})
    def get(self, request: Request, batch_id: uuid.UUID) -> Response | HttpResponse | StreamingHttpResponse:
        batch = get_batch_for_key(request.auth, batch_id)
        kind = request.query_params.get("download")
        if kind is None:
            return Response({"object": "list", "data": batch_results(batch)})
        if kind not in RESULT_FORMATS:
            raise OptiRouteError(f"unknown download {kind!r}; csv or jsonl")
        return results_download(batch, kind)
