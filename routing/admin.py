from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from routing.models import AnalyzerVersion, ApiKey, Cohort, Decision, PreferenceProfile, Usage


@admin.register(PreferenceProfile)
class PreferenceProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "weights"]


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "default_profile", "baseline_model", "monthly_budget_usd"]
    filter_horizontal = ["allowed_models"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["hint", "label", "cohort", "created_at", "revoked_at"]
    list_filter = ["cohort"]
    readonly_fields = ["hint", "hashed", "created_at", "revoked_at"]
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
