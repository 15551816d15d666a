"""Wallet holders: identity and contact data (the PII the privacy layer must protect) and the
latent-driven behaviour parameters that the transaction days read.

About 70% of users are CN (Chinese names, PRC resident IDs whose region, birth date and gender
parity agree with the row, +86 mobiles); the others have English names, mostly live abroad and
carry no resident ID. Every behaviour parameter is a noisy function of the latent ``z``.

Draws come from one ``rng`` in a fixed order (places, demographics, e-mails, mobiles, resident IDs,
devices, behaviour, social graph); names come from Faker instances seeded from the config seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
from faker import Faker

from ledger.identifiers import resident_id_check_digit
from ledger.synthetic import arrays
from ledger.synthetic.arrays import Bools, Floats, Ints, Objects
from ledger.synthetic.config import GeneratorConfig
from ledger.synthetic.latent import sigmoid
from ledger.synthetic.network import ip_strings, uuid4_strings
from ledger.synthetic.reference import CN_CITIES, FOREIGN_CITIES

_CN_EMAIL_DOMAINS = ("163.com", "126.com", "qq.com", "sina.com", "foxmail.com", "aliyun.com")
_EN_EMAIL_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
)
_CN_MOBILE_PREFIXES: Ints = np.array(
    [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 155, 156, 157, 158, 159]
    + [166, 176, 177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 198, 199]
)


@dataclass
class Behaviour:
    """Per-user parameters of ledger activity, each driven by the latent ``z``."""

    kyc: Ints
    signup_ord: Ints  # proleptic ordinal of the signup date
    income: Floats  # monthly, USD
    regular: Bools  # salary-like income on a fixed pay day
    payday: Ints
    activity: Floats
    risky_share: Floats  # share of merchant spend in high-risk categories
    night_share: Floats
    burst_p: Floats  # daily probability of a velocity burst
    xb_rate: Floats  # cross-border payments per day
    dev_p: Floats  # probability a transaction comes from a fresh device
    ip_p: Floats


@dataclass
class Users(Behaviour):
    n: int
    ids: pa.Array
    z: Floats
    is_cn: Bools
    tier: Ints
    devices: pa.Array  # primary device per user
    ips: pa.Array  # primary IP per user
    friend_rank: Ints  # user index by social rank
    rank_of: Ints  # social rank of each user
    table: pa.Table


@dataclass
class _Places:
    cn_city: Ints  # index into CN_CITIES (the region for resident IDs)
    fo_city: Ints  # index into FOREIGN_CITIES (the phone country code)
    expat: Bools  # non-CN user living in a CN tier-1 city
    abroad: Bools
    home_city: Objects
    tier: Ints


def _places(rng: np.random.Generator, is_cn: Bools) -> _Places:
    """CN users from the Chinese table; en users mostly abroad, some in tier-1 cities."""
    n = len(is_cn)
    cn_w = np.array([c[3] for c in CN_CITIES])
    cn_city = rng.choice(len(CN_CITIES), size=n, p=cn_w / cn_w.sum())
    fo_w = np.array([c[4] for c in FOREIGN_CITIES])
    fo_city = rng.choice(len(FOREIGN_CITIES), size=n, p=fo_w / fo_w.sum())
    expat = (~is_cn) & (rng.random(n) < 0.3)
    cn_city = np.where(expat, rng.integers(0, 4, n), cn_city)
    abroad = (~is_cn) & ~expat
    home_city = np.where(
        abroad,
        np.array([c[0] for c in FOREIGN_CITIES], dtype=object)[fo_city],
        np.array([c[0] for c in CN_CITIES], dtype=object)[cn_city],
    )
    tier = np.where(
        abroad,
        np.array([c[1] for c in FOREIGN_CITIES])[fo_city],
        np.array([c[1] for c in CN_CITIES])[cn_city],
    )
    return _Places(cn_city, fo_city, expat, abroad, home_city, tier)


def _names(
    cfg: GeneratorConfig, is_cn: Bools, male: Bools
) -> tuple[list[str], list[str], list[str], Faker]:
    """Full, first and last names following gender, and the zh_CN Faker (for romanised names)."""
    fz = Faker("zh_CN")
    fz.seed_instance(cfg.seed)
    fe = Faker("en")
    fe.seed_instance(cfg.seed + 1)
    names: list[str] = []
    firsts: list[str] = []
    lasts: list[str] = []
    for i in range(len(is_cn)):
        f = fz if is_cn[i] else fe
        first = f.first_name_male() if male[i] else f.first_name_female()
        last = f.last_name()
        firsts.append(first)
        lasts.append(last)
        names.append(f"{last}{first}" if is_cn[i] else f"{first} {last}")
    return names, firsts, lasts, fz


def _emails(
    rng: np.random.Generator, fz: Faker, is_cn: Bools, firsts: list[str], lasts: list[str]
) -> list[str | None]:
    """8% none; CN users QQ numbers or romanised names at CN providers; others name-based."""
    n = len(is_cn)
    zh_person = next(p for p in fz.providers if type(p).__module__.endswith("person.zh_CN"))
    rom_first = np.array(zh_person.first_romanized_names, dtype=object)
    rom_last = np.array(zh_person.last_romanized_names, dtype=object)
    e_kind = rng.random(n)
    e_num = rng.integers(0, 1000, n)
    qq = rng.integers(10_000_000, 3_000_000_000, n)
    rf = rom_first[rng.integers(0, len(rom_first), n)]
    rl = rom_last[rng.integers(0, len(rom_last), n)]
    dom_i = rng.integers(0, 6, n)
    emails: list[str | None] = []
    for i in range(n):
        if e_kind[i] < 0.08:
            emails.append(None)
        elif is_cn[i]:
            if e_kind[i] < 0.45:
                emails.append(f"{qq[i]}@qq.com")
            else:
                domain = _CN_EMAIL_DOMAINS[dom_i[i]]
                emails.append(f"{rl[i].lower()}{rf[i].lower()}{e_num[i]}@{domain}")
        else:
            local = f"{firsts[i]}.{lasts[i]}".lower().replace(" ", "").replace("'", "")
            suffix = str(e_num[i] % 100) if e_kind[i] < 0.6 else ""
            emails.append(f"{local}{suffix}@{_EN_EMAIL_DOMAINS[dom_i[i]]}")
    return emails


def _cn_mobile(prefix: int, body: str, style: float) -> str:
    """A +86 number in one of the four spellings seen in exports."""
    if style < 0.5:
        return f"+86 {prefix} {body[:4]} {body[4:]}"
    if style < 0.8:
        return f"{prefix}{body}"
    if style < 0.9:
        return f"+86{prefix}{body}"
    return f"{prefix}-{body[:4]}-{body[4:]}"


def _foreign_mobile(cc: str, r: int) -> str:
    """An E.164 mobile for country code ``cc`` built from the random integer ``r``."""
    if cc == "1":
        nat = f"{200 + r % 800}{200 + (r // 1000) % 800}{(r // 10**6) % 10000:04d}"
    elif cc == "44":
        nat = f"7{r % 10**9:09d}"
    elif cc in ("65", "852"):
        nat = f"{8 + r % 2}{(r // 10) % 10**7:07d}"
    elif cc == "61":
        nat = f"4{r % 10**8:08d}"
    else:
        nat = f"5{r % 10**8:08d}"
    return f"+{cc}{nat}"


def _mobiles(rng: np.random.Generator, is_cn: Bools, places: _Places) -> list[str]:
    """CN numbers for CN users and half the expats; the home country's format for the others."""
    n = len(is_cn)
    pre = _CN_MOBILE_PREFIXES[rng.integers(0, len(_CN_MOBILE_PREFIXES), n)]
    body = rng.integers(0, 100_000_000, n)
    m_style = rng.random(n)
    mob_rest = rng.integers(0, 10**9, n)
    cc_of_city = np.array([c[3] for c in FOREIGN_CITIES], dtype=object)[places.fo_city]
    mobiles: list[str] = []
    for i in range(n):
        if is_cn[i] or (places.expat[i] and m_style[i] < 0.5):
            mobiles.append(_cn_mobile(int(pre[i]), f"{body[i]:08d}", float(m_style[i])))
        else:
            mobiles.append(_foreign_mobile(str(cc_of_city[i]), int(mob_rest[i])))
    return mobiles


def _resident_ids(
    rng: np.random.Generator, is_cn: Bools, cn_city: Ints, dob: list[date], male: Bools
) -> list[str | None]:
    """PRC resident IDs for CN users: home-city region, birth date, sequence odd for men."""
    region = np.array([c[2] for c in CN_CITIES], dtype=object)[cn_city]
    seq = rng.integers(0, 500, len(is_cn)) * 2 + np.where(male, 1, 0)
    rids: list[str | None] = []
    for i in range(len(is_cn)):
        if is_cn[i]:
            first17 = f"{region[i]}{dob[i]:%Y%m%d}{seq[i]:03d}"
            rids.append(first17 + resident_id_check_digit(first17))
        else:
            rids.append(None)
    return rids


def _behaviour(
    rng: np.random.Generator, z: Floats, places: _Places, is_cn: Bools, start_ord: int
) -> Behaviour:
    n = len(z)

    def noisy(scale: float) -> Floats:
        out: Floats = rng.normal(0.0, scale, n)
        return out

    kyc = np.digitize(z + noisy(1.0), [-1.8, -0.6, 0.8])
    signup = start_ord - rng.integers(1, 3 * 365, n)
    income = arrays.exp(arrays.log(900.0) + 0.35 * z + 0.12 * (3 - places.tier) + noisy(0.45))
    income = np.where(places.abroad, income * 2.0, income)
    return Behaviour(
        kyc=kyc,
        signup_ord=signup,
        income=income,
        regular=rng.random(n) < sigmoid(0.6 + 1.4 * z + noisy(0.5)),
        payday=rng.integers(1, 29, n),
        activity=rng.gamma(4.0, 0.25, n),
        risky_share=sigmoid(-3.0 - 0.9 * z + noisy(0.6)),
        night_share=sigmoid(-2.6 - 0.7 * z + noisy(0.5)),
        burst_p=sigmoid(-4.6 - 0.9 * z + noisy(0.5)),
        xb_rate=0.02 * arrays.exp(-0.45 * z + noisy(0.4)) * np.where(is_cn, 1.0, 2.0),
        dev_p=sigmoid(-4.4 - 0.8 * z + noisy(0.4)),
        ip_p=sigmoid(-3.0 - 0.6 * z + noisy(0.4)),
    )


def _social_graph(rng: np.random.Generator, z: Floats) -> tuple[Ints, Ints]:
    """Homophily: friends are close in a noisy ordering by ``z``. Returns (by rank, rank of)."""
    n = len(z)
    friend_rank = np.argsort(z + rng.normal(0.0, 0.8, n), kind="stable")
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[friend_rank] = np.arange(n)
    return friend_rank, rank_of


def make_users(cfg: GeneratorConfig, rng: np.random.Generator) -> Users:
    """``cfg.users`` users with their landing table (contract ``users`` columns)."""
    n = cfg.users
    is_cn = rng.random(n) < 0.7
    z = rng.standard_normal(n)
    places = _places(rng, is_cn)

    # Mild (realistic) association of z with age and city tier.
    age_years = 18 + 57 * rng.beta(2.0, 3.2, n)
    z = z + 0.12 * np.clip((age_years - 40) / 15, -1.5, 1.5) + 0.08 * (3 - places.tier) / 2
    z = (z - z.mean()) / z.std()
    start_ord = cfg.start.toordinal()
    dob_ord = (start_ord - np.floor(age_years * 365.25)).astype(np.int64)
    dob = [date.fromordinal(int(o)) for o in dob_ord]
    male = rng.random(n) < 0.5

    names, firsts, lasts, fz = _names(cfg, is_cn, male)
    emails = _emails(rng, fz, is_cn, firsts, lasts)
    mobiles = _mobiles(rng, is_cn, places)
    rids = _resident_ids(rng, is_cn, places.cn_city, dob, male)
    devices = pa.array(uuid4_strings(rng, n), pa.string())
    ips = pa.array(ip_strings(rng, is_cn), pa.string())
    behaviour = _behaviour(rng, z, places, is_cn, start_ord)
    friend_rank, rank_of = _social_graph(rng, z)

    ids = pa.array([f"U{i + 1:07d}" for i in range(n)], pa.string())
    table = pa.table(
        {
            "user_id": ids,
            "full_name": pa.array(names, pa.string()),
            "mobile": pa.array(mobiles, pa.string()),
            "email": pa.array(emails, pa.string()),
            "resident_id": pa.array(rids, pa.string()),
            "date_of_birth": pa.array(dob, pa.date32()),
            "gender": pa.array(np.where(male, "M", "F").tolist(), pa.string()),
            "home_city": pa.array(places.home_city.tolist(), pa.string()),
            "city_tier": pa.array(places.tier.astype(np.int32)),
            "device_id": devices,
            "ip_address": ips,
            "kyc_level": pa.array(behaviour.kyc.astype(np.int32)),
            "signup_date": pa.array(
                [date.fromordinal(int(o)) for o in behaviour.signup_ord], pa.date32()
            ),
        }
    )
    return Users(
        **vars(behaviour),
        n=n,
        ids=ids,
        z=z,
        is_cn=is_cn,
        tier=places.tier,
        devices=devices,
        ips=ips,
        friend_rank=friend_rank,
        rank_of=rank_of,
        table=table,
    )
