"""Personalisation templates (rule 11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopsms.domain.errors import DomainError
from stopsms.domain.template import InvalidTemplate, Template, UnknownField


def test_french_dollar_fields() -> None:
    t = Template.parse("Bonjour $prenom $nom ($email) de $societe")
    assert t.fields == ("first_name", "last_name", "email", "company")
    values = {"first_name": "Jean", "last_name": "Dupont", "email": "j@d.fr", "company": "ACME"}
    assert t.render(values) == "Bonjour Jean Dupont (j@d.fr) de ACME"


def test_brace_fields_and_aliases() -> None:
    t = Template.parse("{first_name} {Prénom} { nom } {company} {societe}")
    assert t.fields == ("first_name", "last_name", "company")
    assert t.render({"first_name": "Léa", "last_name": "Martin", "company": "X"}) == (
        "Léa Léa Martin X X"
    )


def test_values_by_name_as_written() -> None:
    assert Template.parse("Salut {prenom}").render({"prenom": "Hugo"}) == "Salut Hugo"


def test_missing_value_is_empty() -> None:
    assert Template.parse("Bonjour {prenom} !").render({}) == "Bonjour  !"


def test_custom_fields_declared() -> None:
    t = Template.parse("Code {code_promo} pour {prenom}", custom_fields=["code_promo"])
    assert t.fields == ("code_promo", "first_name")
    assert t.render({"code_promo": "BF30", "first_name": "Zoé"}) == "Code BF30 pour Zoé"


def test_unknown_fields_are_listed_by_name() -> None:
    with pytest.raises(UnknownField) as caught:
        Template.parse("Bonjour {prenon}, code {code} {prenon}")
    assert caught.value.names == ("prenon", "code")
    assert "prenon, code" in str(caught.value)
    assert isinstance(caught.value, DomainError)


def test_any_custom_field_when_asked() -> None:
    assert Template.parse("{whatever}", custom_fields=None).fields == ("whatever",)


@pytest.mark.parametrize("text", ["Promo {", "Promo { } ok", "Promo {1abc}", "{a.b}"])
def test_ill_formed_fields(text: str) -> None:
    with pytest.raises(InvalidTemplate):
        Template.parse(text)


def test_literals() -> None:
    t = Template.parse("{{promo}} 5$ $5 $abc a } b 100% $nomination")
    assert t.fields == ()
    assert t.render({}) == "{promo} 5$ $5 $abc a } b 100% $nomination"


def test_dollar_custom_field_when_declared() -> None:
    t = Template.parse("Code $code", custom_fields=["code"])
    assert t.render({"code": "X"}) == "Code X"


def test_values_with_percent_and_braces_are_verbatim() -> None:
    t = Template.parse("{prenom} 50% {societe}")
    assert t.render({"first_name": "%s {x}", "company": "100%"}) == "%s {x} 50% 100%"


@given(st.text(alphabet=st.sampled_from("ab %$é{}")))
def test_text_without_fields_renders_as_itself(text: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert Template.parse(escaped).render({}) == text
