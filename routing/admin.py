from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from routing.models import AnalyzerVersion, ApiKey, Batch, BatchItem, Cohort, Decision, PreferenceProfile, Usage


@admin.register(PreferenceProfile)
class PreferenceProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "weights"]


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "default_profile", "baseline_model", "monthly_budget_usd"]
    filter_horizontal = ["allowed_models", "members"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["hint", "label", "cohort", "user", "created_at", "revoked_at"]
    list_filter = ["cohort"]
    readonly_fields = ["hint", "hashed", "user", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created with `manage.py create_api_key`, which shows them once

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            key.revoke()
        messages.success(request, "Keys revoked.")


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "mode", "cohort", "chosen_model", "answered_by", "strategy", "profile"]
    list_filter = ["mode", "strategy", "cohort"]
    search_fields = ["id", "explanation"]
    exclude = ["embedding"]  # 384 numbers say nothing to a reader

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Usage)
class UsageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "cohort", "api_key", "llm", "input_tokens", "output_tokens", "cost_usd", "saving_usd"]
    list_filter = ["cohort", "llm"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AnalyzerVersion)
class AnalyzerVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "embedder", "metrics"]
    exclude = ["artifact"]


class BatchItemInline(admin.TabularInline):
    model = BatchItem
    fields = ("position", "custom_id", "status", "answered_by", "cost_usd", "error")
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0
    show_change_link = False


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "cohort", "model", "status", "total", "sample_size", "chosen_model"]
    list_filter = ["status", "cohort"]
    readonly_fields = ["id", "api_key", "cohort", "model", "options", "status", "total", "sample_size", "chosen_model",
                       "choice", "error", "created_at", "finished_at"]
    inlines = [BatchItemInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # batches come in through POST /api/v1/batches
