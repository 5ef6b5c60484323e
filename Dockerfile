# Hugging Face Space (sdk: docker) / any container host, in public mode (see README, "Deploy to
# Hugging Face Spaces"). CPU torch wheel by default; the demo corpus is built into the image.
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

# Spaces run as uid 1000
RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user PATH=/home/user/.local/bin:$PATH \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1 \
    VCVAL_HOME=/home/user/vcval-data \
    VCVAL_PUBLIC=1 \
    VCVAL_PERSISTENT_DIR=/data
WORKDIR /home/user/app

# The CPU wheel of the pinned torch (the default index would pull the CUDA build, ~2.5 GB more).
# For a GPU Space: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 (or any CUDA index).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY --chown=user constraints.txt requirements.txt ./
RUN pip install --user --no-cache-dir torch==2.13.0 --index-url "$TORCH_INDEX_URL" \
    && pip install --user --no-cache-dir -c constraints.txt -r requirements.txt

COPY --chown=user . .
RUN pip install --user --no-cache-dir --no-deps -e .

# Build the demo corpus now (ingest, encodings, indexes), not at every container start.
# At start, a Space with persistent storage copies it once to /data/vcval-corpus and serves that
# (uploads then survive restarts); without /data it serves this copy.
RUN python -c "from vcval.demo import ensure_demo_corpus; ensure_demo_corpus()"
# Export the default model to ONNX (vcval/runtime.py): on a CPU host the app then answers on onnxruntime
# and starts without loading torch (benchmarks/app.md: less memory, faster start). A GPU image serves on torch.
RUN vcval export

EXPOSE 7860
CMD ["python", "app.py"]
