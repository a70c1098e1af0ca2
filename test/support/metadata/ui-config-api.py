"""Stand-in for metaflow-service's services/ui_backend_service/api/config.py, which the peers copy
of metaflow-service v2.5.1 lacks (the UI backend imports ConfigApi and does not start without it).

Upstream serves GET /config: the frontend's configuration, i.e. the values of a short allow-list
of environment variables (only GA_TRACKING_ID), an empty object here. Written for the tests from
that description; test/support/metadata/ui.ts puts it beside the peer's modules in an overlay.
"""
from aiohttp import web


class ConfigApi(object):
    def __init__(self, app):
        app.router.add_route("GET", "/config", self.get_config)

    async def get_config(self, request):
        return web.json_response({})
