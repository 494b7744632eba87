from django.contrib import admin

from feedback.models import Feedback


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["decision", "rating", "api_key", "created_at", "folded_at"]
    list_filter = ["rating"]
    search_fields = ["comment"]
    readonly_fields = ["decision", "api_key", "rating", "comment", "created_at", "updated_at", "folded_at"]
