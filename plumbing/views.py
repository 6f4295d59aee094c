"""The base of every API view. Apart from ``api`` because DRF imports the parser named in
its settings while it defines ``APIView``: ``api`` must not need ``APIView`` itself."""

from typing import Any

from rest_framework.request import Request
from rest_framework.views import APIView

from .api import refuse_unknown_query


class ApiView(APIView):
    """Every API view: query parameters it does not name are refused, as ``StrictSerializer``
    refuses body fields, so ``?wrad=`` is a 400 and never silently the holder's own card."""

    query_parameters: frozenset[str] = frozenset()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        refuse_unknown_query(request.GET, self.query_parameters)
