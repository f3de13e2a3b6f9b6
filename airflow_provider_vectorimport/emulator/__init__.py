"""Local emulator of Zilliz Cloud (v1/v2), Milvus REST v2 import and VikingDB task APIs."""
