"""The language model component: backends (Ollama, embedded llama.cpp), Modelfiles, the catalog
of packaged GGUF models and their installation. May import ``ingest`` only."""
