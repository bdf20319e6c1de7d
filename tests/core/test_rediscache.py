"""The Redis cache shares one pool and one client among the threads of a process."""

import threading

from django.core.cache import cache, caches


def test_every_thread_uses_the_same_client_and_pool():
    clients = []

    def use_cache() -> None:
        caches["default"].set("rediscache-probe", threading.get_ident(), timeout=10)
        clients.append(caches["default"]._cache.get_client())

    threads = [threading.Thread(target=use_cache) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clients.append(cache._cache.get_client(write=True))
    assert len({id(client) for client in clients}) == 1
    assert len({id(client.connection_pool) for client in clients}) == 1
    assert cache.get("rediscache-probe") in {thread.ident for thread in threads}
