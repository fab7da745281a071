"""Every use of Flask's internals: on a Flask upgrade, check this file."""
from flask import Request

from services.monitoring.performance import ENDPOINT_KEY


class RoutedRequest(Request):
    """Writes the matched route into the WSGI environ for the request monitor, which wraps Flask.

    Flask clears the environ's request reference when a request ends, so the monitor cannot look the
    route up afterwards; an after_request hook could write it, but costs several µs a request, this
    setter a fraction of one.
    """

    # `url_rule` is a plain attribute that Flask's request context sets once it has matched the URL
    # (RequestContext.match_request); turning it into a property is how we hear of that, and relies on
    # Flask assigning it rather than, say, computing it from another attribute.
    @property
    def url_rule(self):
        return self.__dict__.get("_url_rule")

    @url_rule.setter
    def url_rule(self, rule) -> None:
        self.__dict__["_url_rule"] = rule
        if rule is not None:
            self.environ[ENDPOINT_KEY] = rule.rule
