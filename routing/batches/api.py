from __future__ import annotations

import uuid
from typing import Any

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
    BatchRequestsSerializer,
    BatchResultsSerializer,
    BatchResumeSerializer,
    BatchUploadSerializer,
)
from routing.batches.services import (
    batch_cancel,
    batch_confirm,
    batch_create,
    batch_items_append,
    batch_results,
    batch_resume,
    batch_summary,
    get_batch_for_key,
)
from routing.batches.uploads import batch_upload_body


def _body(request: Request) -> Any:
    """The JSON body, or a multipart form's fields with its CSV or JSONL file read into `requests`."""
    upload = request.FILES.get("file") if request.content_type.startswith("multipart/") else None
    return request.data if upload is None else batch_upload_body(fields=request.data, upload=upload)


class BatchCreateView(APIView):
    """Many requests, one model: chosen on a ~2% sample and proposed; workers answer the rest once confirmed."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request={"application/json": BatchInputSerializer, "multipart/form-data": BatchUploadSerializer},
                   responses={202: BatchOutputSerializer, **error_responses(400, 401, 403, 404, 413, 415)})
    def post(self, request: Request) -> Response:
        data = BatchInputSerializer(data=_body(request))
        data.is_valid(raise_exception=True)
        v = data.validated_data
        batch = batch_create(api_key=request.auth, model=v["model"], requests=v["requests"],
                             options=v.get("optiroute") or {}, auto_run=v["auto_run"],
                             budget_usd=v.get("budget_usd"), max_tokens=v.get("max_tokens"),
                             more_to_come=v["more_to_come"])
        return Response(batch_summary(batch), status=202)


class BatchItemsView(APIView):
    """Append a chunk of up to 10,000 requests to a batch created with more_to_come; the last chunk
    (sent without more_to_come) starts choosing its model. A bad chunk is refused whole."""

    authentication_classes = [ApiKeyAuthentication]

    @extend_schema(request={"application/json": BatchRequestsSerializer, "multipart/form-data": BatchUploadSerializer},
                   responses={200: BatchOutputSerializer, **error_responses(400, 401, 404, 409, 413, 415)})
    def post(self, request: Request, batch_id: uuid.UUID) -> Response:
        batch = get_batch_for_key(request.auth, batch_id)
        data = BatchRequestsSerializer(data=_body(request))
        data.is_valid(raise_exception=True)
        batch = batch_items_append(batch=batch, requests=data.validated_data["requests"],
                                   more_to_come=data.validated_data["more_to_come"])
        return Response(batch_summary(batch))


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
