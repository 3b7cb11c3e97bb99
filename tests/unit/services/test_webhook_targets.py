"""Server-side request forgery: the URLs an endpoint may not target, whatever their spelling."""

from __future__ import annotations

import pytest

from stopsms.errors import InvalidInput
from stopsms.services.webhooks.targets import check_url, refused_address


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://localhost./hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://0x7f.1/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one decimal number
        ("http://017700000001/hook", "loopback"),  # … in octal
        ("http://10.0.0.8/hook", "private"),
        ("http://167772168/hook", "private"),  # 10.0.0.8 as a decimal number
        ("https://192.168.1.20:8443/hook", "private"),
        ("http://172.16.5.4/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),  # cloud metadata
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fd00::1]/hook", "private"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://100.64.0.1/hook", "non-public"),  # shared address space (CGNAT)
        ("http://240.0.0.1/hook", "reserved"),
    ],
)
def test_a_host_reaching_a_non_public_address_is_refused(url: str, kind: str) -> None:
    with pytest.raises(InvalidInput, match=f"a {kind} address: refused") as refused:
        check_url(url, allow_private=False)
    assert refused.value.field == "webhook URL"
    assert "STOPSMS_WEBHOOKS_ALLOW_PRIVATE" in str(refused.value)


@pytest.mark.parametrize(
    "url",
    ["ftp://93.184.216.34/hook", "file:///etc/passwd", "gopher://93.184.216.34/", "javascript:x"],
)
def test_only_http_and_https_are_delivered_to(url: str) -> None:
    with pytest.raises(InvalidInput, match="only http:// and https://"):
        check_url(url, allow_private=True)


def test_credentials_in_the_url_are_refused_even_when_private_targets_are_allowed() -> None:
    with pytest.raises(InvalidInput, match="credentials in the URL"):
        check_url("https://user:pw@93.184.216.34/hook", allow_private=True)


def test_a_url_without_host_or_with_a_bad_port_is_refused() -> None:
    with pytest.raises(InvalidInput, match="names no host"):
        check_url("http:///hook", allow_private=True)
    with pytest.raises(InvalidInput, match="not a URL"):
        check_url("http://93.184.216.34:99999/hook", allow_private=True)


def test_a_public_address_is_accepted_and_private_ones_only_when_allowed() -> None:
    assert check_url(" https://93.184.216.34/hook ", allow_private=False) == (
        "https://93.184.216.34/hook"
    )
    assert check_url("http://127.0.0.1:8080/hook", allow_private=True) == (
        "http://127.0.0.1:8080/hook"
    )


def test_an_ipv4_mapped_ipv6_address_is_judged_as_its_ipv4_address() -> None:
    assert refused_address("::ffff:10.1.2.3") == "private"
    assert refused_address("::ffff:93.184.216.34") is None


def test_a_host_that_does_not_resolve_is_refused_naming_the_url() -> None:
    unresolved = r"its host nowhere\.invalid does not resolve"
    with pytest.raises(InvalidInput, match=unresolved) as refused:
        check_url("https://nowhere.invalid/hook", allow_private=False)
    assert refused.value.value == "https://nowhere.invalid/hook"
