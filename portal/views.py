from django.conf import settings
from django.shortcuts import render


def index(request):
    return render(request, "portal/index.html", {"languages": settings.LANGUAGES})
