from django.http import JsonResponse
from django.views.decorators.http import require_GET

from .probes import readiness


@require_GET
def healthz(request):
    """Liveness: the process answers. Touches no dependency."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request):
    """Readiness: 200 when every dependency is usable, else 503, one entry per check."""
    checks = readiness()
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse({"ready": ready, "checks": checks}, status=200 if ready else 503)
