from django.db import migrations

PROFILES = {
    "balanced": ("Good answers at a fair price and speed.",
                 {"accuracy": 0.6, "cost": 0.4, "latency": 0.3, "helpfulness": 0.2, "harmlessness": 0.2,
                  "honesty": 0.2, "steerability": 0.1, "creativity": 0.1}),
    "cost-effective": ("The cheapest model that still does the job.",
                       {"accuracy": 0.4, "cost": 0.9, "latency": 0.2, "helpfulness": 0.05, "harmlessness": 0.05,
                        "honesty": 0.05}),
    "latency-first": ("The fastest answer that is good enough.",
                      {"accuracy": 0.4, "latency": 0.9, "cost": 0.2, "helpfulness": 0.05}),
    "quality-first": ("The best answer; cost and speed barely matter.",
                      {"accuracy": 1.0, "cost": 0.05, "latency": 0.05, "helpfulness": 0.3, "honesty": 0.3}),
    "ethically-aligned": ("Harmless and honest first, then quality.",
                          {"accuracy": 0.5, "harmlessness": 0.9, "honesty": 0.9, "helpfulness": 0.5, "cost": 0.2,
                           "steerability": 0.3}),
    "creative": ("Original, steerable writing.",
                 {"accuracy": 0.4, "creativity": 0.9, "helpfulness": 0.5, "steerability": 0.4, "cost": 0.2}),
}


def create(apps, schema_editor):
    profile_model = apps.get_model("routing", "PreferenceProfile")
    cohort_model = apps.get_model("routing", "Cohort")
    for name, (description, weights) in PROFILES.items():
        profile_model.objects.update_or_create(name=name, defaults={"description": description, "weights": weights})
    cohort_model.objects.get_or_create(name="default", defaults={
        "default_profile": profile_model.objects.get(name="balanced")})


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
