"""Messages composed per second: the bulk :class:`Composer` vs :func:`compose` per message.

Realistic personalised messages: a French Black Friday template with first name, company and
a promo code, 200,000 recipients (names with and without accents, so some go UCS-2), to FR
mostly and some to RE/BE/NC. Goal: ≥ 500,000 compositions/s on one core.
"""

from __future__ import annotations

import random

from bench import best_rate, report
from stopsms.domain.compose import Composer, compose
from stopsms.domain.template import Template

_TEMPLATE = (
    "Bonjour {prenom}, c'est le Black Friday chez {societe} : -30% sur tout le magasin "
    "jusqu'à dimanche avec le code {code}. Rendez-vous en boutique ou sur notre site !"
)
_FIRST = [
    "Jean",
    "Marie",
    "Lucas",
    "Emma",
    "Léa",
    "Hugo",
    "Chloé",
    "Louis",
    "Inès",
    "Noël",
    "Zoé",
    "Gabriel",
    "Jade",
    "Raphaël",
    "Manon",
    "Arthur",
    "Camille",
    "Éloïse",
]
_COMPANIES = ["Maison Martin", "Boutique du Centre", "Mode & Co", "Sport 2000 Lyon"]
_REGIONS = ["FR"] * 17 + ["RE", "BE", "NC"]


def _rows(n: int) -> list[tuple[dict[str, str], str]]:
    rnd = random.Random(7)
    return [
        (
            {
                "first_name": rnd.choice(_FIRST),
                "company": rnd.choice(_COMPANIES),
                "code": f"BF{rnd.randrange(10_000):04d}",
            },
            rnd.choice(_REGIONS),
        )
        for _ in range(n)
    ]


def main() -> None:
    template = Template.parse(_TEMPLATE, custom_fields=["code"])
    rows = _rows(200_000)
    composer = Composer(template)

    def bulk() -> int:
        fast = composer.compose_fast
        for values, region in rows:
            fast(values, region)
        return len(rows)

    few = rows[:20_000]

    def plain() -> int:
        render = template.render
        for values, region in few:
            compose(render(values), region=region)
        return len(few)

    smart = Composer(template, smart_encoding=True)

    def bulk_smart() -> int:
        fast = smart.compose_fast
        for values, region in rows:
            fast(values, region)
        return len(rows)

    baseline = best_rate("compose() per message (render + compose)", plain)
    report(baseline)
    report(best_rate("Composer.compose_fast", bulk), goal=500_000, baseline=baseline)
    report(best_rate("Composer.compose_fast, smart encoding", bulk_smart), baseline=baseline)
