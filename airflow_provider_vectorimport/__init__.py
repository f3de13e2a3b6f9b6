"""Apache Airflow provider for bulk import into / export out of managed vector databases.

Zilliz Cloud (v1 controller and v2 APIs), self-hosted Milvus (REST v2) and VikingDB (Volcengine).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
