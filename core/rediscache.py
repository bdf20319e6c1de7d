"""Django's Redis cache with one connection pool and one client per server and process.

Django's `RedisCache` is built once per thread, each with pools of its own, and makes a new
`redis.Redis` client for every operation (three for a cached consent check, each copying
redis-py's table of response callbacks). A client over a pool is safe to share between threads,
so every thread of a process uses the same pool and client here: no per-call construction, and
no more connections than the threads that use one at the same moment. redis-py's pool notices a
fork and starts afresh in the child, so gunicorn's and Celery's forked processes never share a
socket with their parent.
"""

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_lock = threading.Lock()
# (server URL, pool options) -> the process's client for it.
_clients: dict[tuple[str, str], Any] = {}


class PooledRedisCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        server = self._servers[self._get_connection_pool_index(write)]
        ident = (server, repr(sorted(self._pool_options.items(), key=lambda item: item[0])))
        client = _clients.get(ident)
        if client is None:
            with _lock:
                client = _clients.get(ident)
                if client is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)
                    client = _clients[ident] = self._client(connection_pool=pool)
        return client


class PooledRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache`, its connections shared by the process."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = PooledRedisCacheClient
