"""SASL authentication as libvirt does it: SCRAM-SHA-256 and GSSAPI (Kerberos) with its
security layer, for netrpc servers and clients.

* :mod:`netrpc.security.sasl.wire`: procedures 66-69 of libvirt's REMOTE program and their encoding.
* :mod:`netrpc.security.sasl.server`: :class:`SASLConfig` (a daemon's policy) and
  :class:`SASLAuthProcedures` (the procedures, mixed into the daemon's program).
* :mod:`netrpc.security.sasl.client`: :func:`authenticate` and :class:`SASLCredentials`, used by
  :class:`netrpc.Client` (``sasl=``).
* :mod:`netrpc.security.sasl.mechanisms`: the mechanisms and the SSF rules.
* :mod:`netrpc.security.sasl.layer`: the security layer as a byte filter in the I/O path.
* :mod:`netrpc.security.sasl.passwd`: password files of SCRAM verifiers and ``netrpc-passwd``.

GSSAPI needs the optional ``gssapi`` package (built against MIT Kerberos).
"""

from .client import SASLClientError as SASLClientError
from .client import SASLCredentials as SASLCredentials
from .client import SASLResult as SASLResult
from .client import authenticate as authenticate
from .mechanisms import SASLAuthError as SASLAuthError
from .passwd import PasswordFile as PasswordFile
from .passwd import PasswordFileError as PasswordFileError
from .passwd import ScramVerifier as ScramVerifier
from .server import DEFAULT_TCP_MIN_SSF as DEFAULT_TCP_MIN_SSF
from .server import SASLAuthProcedures as SASLAuthProcedures
from .server import SASLConfig as SASLConfig
from .server import SASLConfigError as SASLConfigError

__all__ = (
    "DEFAULT_TCP_MIN_SSF",
    "PasswordFile",
    "PasswordFileError",
    "SASLAuthError",
    "SASLAuthProcedures",
    "SASLClientError",
    "SASLConfig",
    "SASLConfigError",
    "SASLCredentials",
    "SASLResult",
    "ScramVerifier",
    "authenticate",
)
