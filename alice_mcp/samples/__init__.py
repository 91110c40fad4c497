"""Small sample files carrying real generator metadata, for tests, benchmarks and demos.

Every writer draws a distinct little picture (gradient + shapes, colours from a seed, so
perceptual hashes differ) and stores the metadata where the generator itself puts it.
Deterministic for a given seed; 64x64 pixels by default, so thousands take seconds.
Videos (PyAV) and C2PA signing (c2pa-python) load their libraries on first use.
"""

from alice_mcp.samples.a1111 import (
    CHARSETS,
    a1111_infotext,
    a1111_quote,
    exif_with_comment,
    user_comment,
    write_a1111_jpeg,
    write_a1111_png,
    write_a1111_webp,
)
from alice_mcp.samples.classic import write_invokeai_png, write_midjourney_png, write_novelai_png
from alice_mcp.samples.comfyui import (
    _WIDGET_ORDER,
    _node,
    comfyui_api_graph,
    comfyui_workflow,
    write_comfyui_png,
    write_comfyui_webp,
)
from alice_mcp.samples.images import (
    STYLES,
    WORDS,
    Size,
    sample_image,
    save,
    seed_of,
    write_plain_jpeg,
    write_plain_png,
    write_png_text,
)
from alice_mcp.samples.inbox import Writer, _fake_uuid, _inbox_writers, make_sample_inbox
from alice_mcp.samples.provenance import (
    ai_manifest,
    edit_manifest,
    sign_bytes,
    sign_edit,
    test_signing_material,
    write_c2pa_history,
    write_c2pa_image,
)
from alice_mcp.samples.services import (
    civitai_infotext,
    novelai_fields,
    write_civitai,
    write_comfyui_exif,
    write_hfspace_png,
    write_novelai_webp,
    write_ruinedfooocus_png,
    write_stability_matrix_png,
    write_swarmui_comfy_png,
    write_tensorart_png,
    write_unknown_png,
)
from alice_mcp.samples.stealth import (
    embed_stealth,
    stealth_bits,
    write_stealth_a1111_png,
    write_stealth_novelai_png,
)
from alice_mcp.samples.tools import (
    drawthings_xmp,
    easydiffusion_settings,
    fooocus_parameters,
    swarmui_parameters,
    write_drawthings_png,
    write_easydiffusion_jpeg,
    write_easydiffusion_png,
    write_fooocus_jpeg,
    write_fooocus_png,
    write_invokeai_dream_png,
    write_invokeai_sdmeta_png,
    write_swarmui_jpeg,
    write_swarmui_png,
)
from alice_mcp.samples.video import (
    comfyui_video_comment,
    video_frames,
    write_animated_gif,
    write_comfyui_video,
    write_video,
)

_seed_of = seed_of  # the names these helpers had when samples was one module
_save = save

__all__ = [
    "CHARSETS", "STYLES", "WORDS", "Size", "Writer", "_WIDGET_ORDER", "_fake_uuid",
    "_inbox_writers", "_node", "_save", "_seed_of", "a1111_infotext", "a1111_quote",
    "ai_manifest", "comfyui_api_graph", "comfyui_video_comment", "comfyui_workflow",
    "drawthings_xmp", "easydiffusion_settings", "embed_stealth", "exif_with_comment",
    "fooocus_parameters", "make_sample_inbox", "sample_image", "save", "seed_of", "sign_bytes",
    "stealth_bits", "swarmui_parameters", "test_signing_material", "user_comment", "video_frames",
    "write_a1111_jpeg", "write_a1111_png", "write_a1111_webp", "write_animated_gif",
    "write_c2pa_image", "write_comfyui_png", "write_comfyui_video", "write_comfyui_webp",
    "write_drawthings_png", "write_easydiffusion_jpeg", "write_easydiffusion_png",
    "write_fooocus_jpeg", "write_fooocus_png", "write_invokeai_dream_png", "write_invokeai_png",
    "write_invokeai_sdmeta_png", "write_midjourney_png", "write_novelai_png", "write_plain_jpeg",
    "write_plain_png", "write_png_text", "write_stealth_a1111_png", "write_stealth_novelai_png",
    "write_swarmui_jpeg", "write_swarmui_png", "write_video",
    "civitai_infotext", "edit_manifest", "novelai_fields", "sign_edit", "write_c2pa_history",
    "write_civitai", "write_comfyui_exif", "write_hfspace_png", "write_novelai_webp",
    "write_ruinedfooocus_png", "write_stability_matrix_png", "write_swarmui_comfy_png",
    "write_tensorart_png", "write_unknown_png",
]  # fmt: skip
