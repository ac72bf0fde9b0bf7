from django.http import JsonResponse


def request_seen(request):
    """What Django makes of a request that came through nginx."""
    return JsonResponse(
        {"remote_addr": request.META.get("REMOTE_ADDR"), "scheme": request.scheme, "secure": request.is_secure()}
    )
