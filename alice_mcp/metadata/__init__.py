"""What generated a file and with which parameters, read from headers only."""

from alice_mcp.metadata.containers import ContainerMeta, read_container
from alice_mcp.metadata.detect import detect, detect_meta, detect_path
from alice_mcp.metadata.models import GenerationInfo

__all__ = [
    "ContainerMeta",
    "GenerationInfo",
    "detect",
    "detect_meta",
    "detect_path",
    "read_container",
]
