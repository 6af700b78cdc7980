"""`textcnn-serve` / `python -m service`: run the app under uvicorn with TEXTCNN_* settings."""

import logging

import uvicorn

from service.settings import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run("service.main:app", host=settings.host, port=settings.port, workers=settings.workers)


if __name__ == "__main__":
    main()
