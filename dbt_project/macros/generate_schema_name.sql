{#- Custom schemas are used verbatim (`staging`, `marts`), not prefixed with the target schema
    (`main_staging`): downstream readers (Dagster, the privacy step) address them by these names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
