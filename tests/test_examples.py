"""The runnable examples keep working: the Python API script."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_api_example(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "python_api.py"), str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "dcgan" in result.stdout and "global-local" in result.stdout
    assert (tmp_path / "samples.png").is_file() and (tmp_path / "dcgan" / "report.html").is_file()
