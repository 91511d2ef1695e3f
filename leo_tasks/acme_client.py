"""Talking to an ACME CA (Let's Encrypt, or Pebble in tests) with certbot's `acme` library.

This module only speaks the protocol: it is handed callbacks to publish and
withdraw HTTP-01 responses, so it knows nothing about hosts or SSH.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import josepy as jose
import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization

from . import __version__
from .errors import LeoError

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"

# (file name under /.well-known/acme-challenge/, content): what every host must serve.
Challenge = tuple[str, str]


class AcmeFailed(LeoError):
    """The CA refused or could not validate; carries the CA's own reason."""


@dataclass(frozen=True)
class AcmeSettings:
    directory: str = LETS_ENCRYPT
    ca_bundle: str | None = None  # trust a private CA (Pebble) for the directory's TLS
    email: str | None = None
    timeout: float = 120.0

    @property
    def account_id(self) -> str:
        """Accounts belong to one CA: the key file is named after the directory URL."""
        return hashlib.sha256(self.directory.encode()).hexdigest()[:16]


class AcmeSession:
    def __init__(self, settings: AcmeSettings, account_key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(account_key_pem, password=None)
        self.key = jose.JWKRSA(key=key)
        self.settings = settings
        net = client.ClientNetwork(
            self.key, user_agent=f"leo_tasks/{__version__}", verify_ssl=settings.ca_bundle or True
        )
        try:
            directory = client.ClientV2.get_directory(settings.directory, net)
        except (requests.RequestException, errors.Error, ValueError) as exc:
            raise AcmeFailed(f"cannot read the ACME directory {settings.directory}: {exc}") from exc
        self.acme = client.ClientV2(directory, net=net)

    def register(self) -> str:
        """Create the account, or find the existing one for this key. Returns its URL."""
        fields = {"terms_of_service_agreed": True}
        if self.settings.email:
            fields["email"] = self.settings.email
        try:
            regr = self.acme.new_account(messages.NewRegistration.from_data(**fields))
        except errors.ConflictError as exists:
            regr = messages.RegistrationResource(uri=exists.location, body=messages.Registration())
            self.acme.net.account = regr
        except messages.Error as exc:
            raise AcmeFailed(f"the CA refused the account: {_reason(exc)}") from exc
        return regr.uri

    def issue(
        self,
        domains: list[str],
        cert_key_pem: bytes,
        publish: Callable[[list[Challenge]], None],
        withdraw: Callable[[list[Challenge]], None],
    ) -> str:
        """Order a certificate for `domains`, answering HTTP-01 through `publish`.

        `publish` must make every host serve the files before it returns;
        `withdraw` is always called afterwards. Returns the full chain PEM.
        """
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=self.settings.timeout)
        try:
            order = self.acme.new_order(crypto_util.make_csr(cert_key_pem, domains))
            answers, files = [], []
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue  # the CA remembers a recent validation
                challb = _http01(authz)
                response, validation = challb.response_and_validation(self.key)
                files.append((challb.chall.encode("token"), validation))
                answers.append((challb, response))
            publish(files)
            try:
                for challb, response in answers:
                    self.acme.answer_challenge(challb, response)
                done = self.acme.poll_and_finalize(order, deadline)
            finally:
                withdraw(files)
        except errors.ValidationError as exc:
            raise AcmeFailed(f"the CA could not validate: {_validation_reasons(exc)}") from exc
        except messages.Error as exc:
            raise AcmeFailed(f"the CA refused: {_reason(exc)}") from exc
        except errors.TimeoutError as exc:
            raise AcmeFailed(f"the CA did not finish within {self.settings.timeout:g}s") from exc
        except (requests.RequestException, errors.Error) as exc:
            raise AcmeFailed(f"ACME request failed: {exc}") from exc
        return done.fullchain_pem


def _http01(authz: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challb in authz.body.challenges:
        if isinstance(challb.chall, challenges.HTTP01):
            return challb
    raise AcmeFailed(f"the CA offers no HTTP-01 challenge for {authz.body.identifier.value}")


def _reason(error: messages.Error) -> str:
    kind = (error.typ or "").rsplit(":", 1)[-1]
    return f"{error.detail or error}" + (f" ({kind})" if kind else "")


def _validation_reasons(exc: errors.ValidationError) -> str:
    reasons = []
    for authz in exc.failed_authzrs:
        for challb in authz.body.challenges:
            if challb.error is not None:
                reasons.append(f"{authz.body.identifier.value}: {_reason(challb.error)}")
    return "; ".join(reasons) or str(exc)
