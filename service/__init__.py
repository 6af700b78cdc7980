"""The HTTP service: a thin FastAPI layer over textcnn's Predictor."""
