"""Signed links. A token names a subscriber by their random id (never the address) and is
signed with DIGEST_SECRET_KEY under a salt per purpose, so a token made for one purpose is
worthless for another, and none can be forged or pointed at another subscriber."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..errors import BadToken
from ..settings import WebSettings

# How long each kind of link works. Unsubscribe links never expire: a digest found in an
# archive a year later must still let its reader leave.
MAX_AGE: dict[str, timedelta | None] = {
    "confirm": timedelta(days=2),
    "preferences": timedelta(days=90),
    "unsubscribe": None,
    "undo": timedelta(days=1),
    "rate": timedelta(days=180),
    "csrf": timedelta(hours=12),
    # A subscriber's own reading links (a digest in the browser, their archive, their feed):
    # no age, as a feed reader keeps its URL for years; they stop when the subscriber goes
    # (410), and unsubscribing revokes every one made before it.
    "view": None,
    "archive": None,
    "feed": None,
}


class Signer:
    def __init__(self, secret_key: str) -> None:
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret_key, salt=f"paper-digest/{purpose}")
            for purpose in MAX_AGE
        }

    def make(self, purpose: str, *payload: Any) -> str:
        return str(self._serializers[purpose].dumps(list(payload)))

    def read(self, purpose: str, token: str) -> tuple[list[Any], datetime]:
        """The payload and when the token was made (aware, UTC, like the store's times)."""
        age = MAX_AGE[purpose]
        try:
            payload, stamp = self._serializers[purpose].loads(
                token,
                max_age=int(age.total_seconds()) if age else None,
                return_timestamp=True,
            )
        except SignatureExpired:
            raise BadToken("this link has expired") from None
        except (BadSignature, ValueError, TypeError):
            raise BadToken("this link is not valid") from None
        if not isinstance(payload, list) or not payload:
            raise BadToken("this link is not valid")
        return payload, stamp.astimezone(UTC)


class Links:
    """The web app's URLs for a subscriber, as digests and confirmation mails carry them."""

    def __init__(self, base_url: str, signer: Signer) -> None:
        self.base = base_url.rstrip("/")
        self.signer = signer

    def confirm(self, uid: str, profile: dict[str, Any] | None = None) -> str:
        """The confirmation link; `profile` (a subscriber-file entry) is what confirming it
        sets, so a request for someone else's address changes nothing they have."""
        if profile is None:
            return f"{self.base}/confirm/{self.signer.make('confirm', uid)}"
        return f"{self.base}/confirm/{self.signer.make('confirm', uid, profile)}"

    def preferences(self, uid: str) -> str:
        return f"{self.base}/preferences/{self.signer.make('preferences', uid)}"

    def unsubscribe(self, uid: str) -> str:
        return f"{self.base}/unsubscribe/{self.signer.make('unsubscribe', uid)}"

    def rate(self, uid: str, key: str, verdict: str) -> str:
        """A card's "more like this" (`verdict` MORE) or "less like this" (LESS) link."""
        return f"{self.base}/rate/{self.signer.make('rate', uid, key, verdict)}"

    def view(self, uid: str, message_id: str) -> str:
        """One digest as a web page ("view in browser")."""
        return f"{self.base}/view/{self.signer.make('view', uid, message_id)}"

    def archive(self, uid: str) -> str:
        return f"{self.base}/archive/{self.signer.make('archive', uid)}"

    def feed(self, uid: str) -> str:
        """The subscriber's private Atom feed of the papers they were sent."""
        return f"{self.base}/feed/{self.signer.make('feed', uid)}"

    def subscribe(self) -> str:
        return f"{self.base}/"


def links_for(web: WebSettings, base_url: str | None = None) -> Links | None:
    """Links when the app's public address and a secret key are both set; else None and
    digests fall back to a mailto: unsubscribe."""
    base = base_url or web.base_url
    if not base or not web.secret_key:
        return None
    return Links(base, Signer(web.secret_key))
