class ProxyClientAddressMiddleware:
    """Use the client address nginx saw (X-Real-IP) as REMOTE_ADDR.

    gunicorn listens only on a unix socket or an internal network that nginx alone can
    reach, and nginx always overwrites X-Real-IP, so a client cannot forge it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        real_ip = request.META.get("HTTP_X_REAL_IP")
        if real_ip:
            request.META["REMOTE_ADDR"] = real_ip
        return self.get_response(request)
