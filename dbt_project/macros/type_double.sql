{#- An 8-byte float for money amounts. dbt.type_float() renders `float`, which DuckDB reads as a
    4-byte REAL and would round base-currency sums. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'ledgerlens')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}
