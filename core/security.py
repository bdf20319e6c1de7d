"""A default Content-Security-Policy for every response that does not set its own.

Django 5.2 has no CSP support of its own. The subject pages set a stricter policy per response
(portal.security); everything else, the admin and the API docs above all, gets
`LUP_CONTENT_SECURITY_POLICY`. Both load scripts only from this origin: the API docs are served
by drf-spectacular's split Swagger view, whose start-up script is a file rather than inline.
"""

from django.conf import settings


class DefaultContentSecurityPolicyMiddleware:
    header = "Content-Security-Policy"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.LUP_CONTENT_SECURITY_POLICY
        if policy and self.header not in response:
            response[self.header] = policy
        return response
