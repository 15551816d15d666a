"""Named generalisers: SQL expressions that coarsen a column, and the name of their output.

Each generaliser applies to some entity types and names its output column descriptively
(``date_of_birth`` -> ``age_band``, ``ip_address`` -> ``ip_prefix``, ``occurred_at`` ->
``occurred_date`` / ``occurred_hour``, ``home_city`` -> ``home_city_region``, ``amount`` ->
``amount_band``, ``signup_date`` -> ``signup_month``).

=================  ===========================  ===============================================
generaliser        applies to                   output
=================  ===========================  ===============================================
``age_band``       date_of_birth                '<18','18-24','25-34','35-44','45-54','55-64','65+'
``birth_year``     date_of_birth                year of birth (INTEGER)
``city_region``    city                         CN region (North, Northeast, East, South,
                                                Central, Southwest, Northwest) or 'Other'
``city_tier``      city                         '1', 'new-1', or 'other' for the known cities
``timestamp_hour`` timestamp                    truncated to the hour (TIMESTAMP)
``timestamp_day``  timestamp                    the day (DATE)
``date_month``     date, timestamp              first day of the month (DATE)
``ip_prefix``      ip_address                   IPv4 /24 ('a.b.c.0/24'), IPv6 /48 ('x:y:z::/48')
``amount_band``    amount, price                decade band: '<1','1-10','10-100',...,'>=1e6'
=================  ===========================  ===============================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["GENERALISERS", "Generaliser", "CITY_REGIONS", "CITY_TIERS", "generaliser"]


@dataclass(frozen=True)
class Generaliser:
    name: str
    applies_to: frozenset[str]
    description: str
    _sql: Callable[[str, str], str]
    _output: Callable[[str], str]
    by_distinct: bool = False  # costly per row: evaluate on DISTINCT values and join back

    def sql(self, expr: str, as_of: str = "CURRENT_DATE") -> str:
        """SQL expression over column expression ``expr``; ``as_of`` is a SQL date expression."""
        return self._sql(expr, as_of)

    def output_name(self, column: str) -> str:
        return self._output(column)


def _strip(column: str, suffixes: tuple[str, ...]) -> str:
    for s in suffixes:
        if column.endswith(s) and len(column) > len(s):
            return column[: -len(s)]
    return column


_REGIONS: dict[str, tuple[str, ...]] = {
    "North": (
        "北京",
        "天津",
        "石家庄",
        "太原",
        "呼和浩特",
        "唐山",
        "保定",
        "Beijing",
        "Tianjin",
        "Shijiazhuang",
        "Taiyuan",
        "Hohhot",
    ),
    "Northeast": ("沈阳", "大连", "长春", "哈尔滨", "Shenyang", "Dalian", "Changchun", "Harbin"),
    "East": (
        "上海",
        "南京",
        "苏州",
        "杭州",
        "宁波",
        "合肥",
        "福州",
        "厦门",
        "济南",
        "青岛",
        "无锡",
        "南昌",
        "温州",
        "Shanghai",
        "Nanjing",
        "Suzhou",
        "Hangzhou",
        "Ningbo",
        "Hefei",
        "Fuzhou",
        "Xiamen",
        "Jinan",
        "Qingdao",
        "Wuxi",
        "Nanchang",
    ),
    "South": (
        "广州",
        "深圳",
        "东莞",
        "佛山",
        "南宁",
        "海口",
        "珠海",
        "Guangzhou",
        "Shenzhen",
        "Dongguan",
        "Foshan",
        "Nanning",
        "Haikou",
        "Zhuhai",
    ),
    "Central": ("武汉", "长沙", "郑州", "Wuhan", "Changsha", "Zhengzhou"),
    "Southwest": (
        "成都",
        "重庆",
        "昆明",
        "贵阳",
        "拉萨",
        "Chengdu",
        "Chongqing",
        "Kunming",
        "Guiyang",
        "Lhasa",
    ),
    "Northwest": (
        "西安",
        "兰州",
        "西宁",
        "银川",
        "乌鲁木齐",
        "Xi'an",
        "Xian",
        "Lanzhou",
        "Xining",
        "Yinchuan",
        "Urumqi",
    ),
}
_REGIONS["Central"] += ("Luoyang", "Ganzhou", "洛阳", "赣州")
_REGIONS["Southwest"] += ("Mianyang", "绵阳")
_REGIONS["Northwest"] += ("Yan'an", "Shangluo", "Tianshui", "延安", "商洛", "天水")
_REGIONS.update(
    {
        "Hong Kong SAR": ("Hong Kong", "香港"),
        "Macao SAR": ("Macao", "Macau", "澳门"),
        "Southeast Asia": ("Singapore", "Kuala Lumpur", "Bangkok", "Jakarta", "Manila"),
        "Europe": ("London", "Paris", "Berlin", "Frankfurt", "Amsterdam", "Zurich"),
        "North America": ("New York", "Toronto", "San Francisco", "Los Angeles", "Vancouver"),
        "Middle East": ("Dubai", "Abu Dhabi", "Riyadh", "Doha"),
        "Oceania": ("Sydney", "Melbourne", "Auckland"),
    }
)
CITY_REGIONS: dict[str, str] = {c: r for r, cities in _REGIONS.items() for c in cities}
CITY_TIERS: dict[str, str] = {
    **{
        c: "1"
        for c in ("北京", "上海", "广州", "深圳", "Beijing", "Shanghai", "Guangzhou", "Shenzhen")
    },
    **{
        c: "new-1"
        for c in (
            "成都",
            "杭州",
            "重庆",
            "武汉",
            "西安",
            "苏州",
            "天津",
            "南京",
            "长沙",
            "郑州",
            "东莞",
            "青岛",
            "沈阳",
            "宁波",
            "昆明",
            "Chengdu",
            "Hangzhou",
            "Chongqing",
            "Wuhan",
            "Xi'an",
            "Xian",
            "Suzhou",
            "Tianjin",
            "Nanjing",
            "Changsha",
            "Zhengzhou",
            "Dongguan",
            "Qingdao",
            "Shenyang",
            "Ningbo",
            "Kunming",
        )
    },
}


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _map_sql(expr: str, mapping: dict[str, str], default: str) -> str:
    # Strip a trailing 市 / " City" so '北京市' and 'Beijing City' map too.
    key = f"regexp_replace(trim(CAST({expr} AS VARCHAR)), '(市| [Cc]ity)$', '')"
    whens = " ".join(f"WHEN {_sql_str(k)} THEN {_sql_str(v)}" for k, v in mapping.items())
    return (
        f"(CASE WHEN {expr} IS NULL THEN NULL ELSE (CASE {key} {whens} ELSE "
        f"{_sql_str(default)} END) END)"
    )


def _age_band(expr: str, as_of: str) -> str:
    age = f"date_sub('year', CAST({expr} AS DATE), CAST({as_of} AS DATE))"
    return (
        f"(CASE WHEN {expr} IS NULL THEN NULL WHEN {age} < 18 THEN '<18' "
        f"WHEN {age} < 25 THEN '18-24' WHEN {age} < 35 THEN '25-34' WHEN {age} < 45 THEN '35-44' "
        f"WHEN {age} < 55 THEN '45-54' WHEN {age} < 65 THEN '55-64' ELSE '65+' END)"
    )


def _ip_prefix(expr: str, _as_of: str) -> str:
    v = f"trim(CAST({expr} AS VARCHAR))"
    v4 = f"regexp_replace({v}, '^(\\d+\\.\\d+\\.\\d+)\\.\\d+$', '\\1.0/24')"
    # IPv6: expand '::' to zero groups, keep the first three groups (/48).
    before = f"(CASE WHEN contains({v}, '::') THEN split_part({v}, '::', 1) ELSE {v} END)"
    after = f"(CASE WHEN contains({v}, '::') THEN split_part({v}, '::', 2) ELSE '' END)"
    bl = f"(CASE WHEN {before} = '' THEN []::VARCHAR[] ELSE string_split({before}, ':') END)"
    al = f"(CASE WHEN {after} = '' THEN []::VARCHAR[] ELSE string_split({after}, ':') END)"
    groups = (
        f"list_concat({bl}, list_resize([]::VARCHAR[], greatest(8 - len({bl}) - len({al}), 0), "
        f"'0'), {al})"
    )
    norm = "coalesce(nullif(ltrim(lower(g), '0'), ''), '0')"
    v6 = f"(array_to_string(list_transform({groups}[1:3], lambda g: {norm}), ':') || '::/48')"
    return (
        f"(CASE WHEN {expr} IS NULL THEN NULL WHEN contains({v}, ':') THEN {v6} "
        f"WHEN regexp_full_match({v}, '\\d+\\.\\d+\\.\\d+\\.\\d+') THEN {v4} ELSE NULL END)"
    )


def _amount_band(expr: str, _as_of: str) -> str:
    x = f"CAST({expr} AS DOUBLE)"
    bands = [
        (1, "<1"),
        (10, "1-10"),
        (100, "10-100"),
        (1_000, "100-1k"),
        (10_000, "1k-10k"),
        (100_000, "10k-100k"),
        (1_000_000, "100k-1M"),
    ]
    whens = " ".join(f"WHEN {x} < {b} THEN '{label}'" for b, label in bands)
    return f"(CASE WHEN {expr} IS NULL THEN NULL {whens} ELSE '>=1M' END)"


_TIME_SUFFIXES = ("_at", "_time", "_ts", "_timestamp", "_datetime", "_date")

_ALL: tuple[Generaliser, ...] = (
    Generaliser(
        "age_band",
        frozenset({"date_of_birth"}),
        "age band at the as-of date",
        _age_band,
        lambda c: "age_band" if c in ("date_of_birth", "dob", "birth_date") else f"{c}_age_band",
    ),
    Generaliser(
        "birth_year",
        frozenset({"date_of_birth"}),
        "year of birth",
        lambda e, _a: f"CAST(year(CAST({e} AS DATE)) AS INTEGER)",
        lambda c: "birth_year" if c in ("date_of_birth", "dob", "birth_date") else f"{c}_year",
    ),
    Generaliser(
        "city_region",
        frozenset({"city"}),
        "CN region of the city",
        lambda e, _a: _map_sql(e, CITY_REGIONS, "Other"),
        lambda c: f"{c}_region",
    ),
    Generaliser(
        "city_tier",
        frozenset({"city"}),
        "tier of the city (1 / new-1 / other)",
        lambda e, _a: _map_sql(e, CITY_TIERS, "other"),
        lambda c: f"{c}_tier",
    ),
    Generaliser(
        "timestamp_hour",
        frozenset({"timestamp"}),
        "time truncated to the hour",
        lambda e, _a: f"date_trunc('hour', CAST({e} AS TIMESTAMP))",
        lambda c: f"{_strip(c, _TIME_SUFFIXES)}_hour",
    ),
    Generaliser(
        "timestamp_day",
        frozenset({"timestamp"}),
        "the day of the time",
        lambda e, _a: f"CAST({e} AS DATE)",
        lambda c: f"{_strip(c, _TIME_SUFFIXES)}_date",
    ),
    Generaliser(
        "date_month",
        frozenset({"date", "timestamp"}),
        "first day of the month",
        lambda e, _a: f"CAST(date_trunc('month', CAST({e} AS DATE)) AS DATE)",
        lambda c: f"{_strip(c, _TIME_SUFFIXES)}_month",
    ),
    Generaliser(
        "ip_prefix",
        frozenset({"ip_address"}),
        "IPv4 /24 or IPv6 /48 network",
        _ip_prefix,
        lambda c: f"{_strip(c, ('_address', '_addr'))}_prefix",
        by_distinct=True,
    ),
    Generaliser(
        "amount_band",
        frozenset({"amount", "price"}),
        "decade band of the amount",
        _amount_band,
        lambda c: f"{c}_band",
    ),
)

GENERALISERS: dict[str, Generaliser] = {g.name: g for g in _ALL}


def generaliser(name: str) -> Generaliser:
    try:
        return GENERALISERS[name]
    except KeyError:
        raise KeyError(f"unknown generaliser {name!r}; known: {sorted(GENERALISERS)}") from None
