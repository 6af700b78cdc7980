import subprocess
import sys


def test_library_import_stays_free_of_service_and_training_stacks() -> None:
    code = (
        "import sys, textcnn; "
        "print(sorted({'fastapi', 'pydantic', 'datasets', 'gensim', 'uvicorn'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
