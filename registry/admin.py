from django.contrib import admin

from registry.models import LLM, Dataset, ImportJob, ModelProfile, Provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "base_url", "api_key_env", "has_credentials"]

    @admin.display(boolean=True)
    def has_credentials(self, obj: Provider) -> bool:
        return obj.has_credentials()


@admin.register(LLM)
class LLMAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "input_price_per_mtok", "output_price_per_mtok", "context_window",
                    "license", "is_generalist", "is_active"]
    list_filter = ["provider", "is_generalist", "is_active", "license"]
    search_fields = ["name", "api_model_id"]
    list_editable = ["is_active", "is_generalist"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "source_format", "updated_at"]
    readonly_fields = ["content_hash", "stats"]


@admin.register(ModelProfile)
class ModelProfileAdmin(admin.ModelAdmin):
    list_display = ["llm", "dataset", "task_type", "domain", "n", "quality", "cost", "latency"]
    list_filter = ["dataset", "task_type", "domain"]
    exclude = ["embedding"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset_name", "source_format", "status", "progress", "created_by", "created_at"]
    readonly_fields = ["errors", "report"]
