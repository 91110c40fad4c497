"""Words the offline provider recognises in prompts, by category."""

from __future__ import annotations

VOCABULARY: dict[str, tuple[str, ...]] = {
    "style": ("photorealistic", "realistic", "anime", "manga", "cartoon", "illustration",
              "oil painting", "watercolor", "watercolour", "pixel art", "3d render", "concept art",
              "cyberpunk", "steampunk", "fantasy", "sci-fi", "surreal", "minimalist", "vaporwave",
              "art nouveau", "baroque", "impressionist", "ukiyo-e", "sketch", "line art",
              "low poly", "isometric", "comic", "noir", "gothic", "retro", "vintage"),
    "mood": ("moody", "dark", "cheerful", "serene", "calm", "dramatic", "mysterious", "eerie",
             "melancholic", "whimsical", "epic", "romantic", "peaceful", "ominous", "dreamy"),
    "subject": ("portrait", "landscape", "cityscape", "city", "street", "forest", "mountain",
                "ocean", "sea", "beach", "castle", "robot", "cat", "dog", "fox", "bird",
                "dragon", "car", "spaceship", "woman", "man", "girl", "boy", "face", "flower",
                "food", "building", "interior", "architecture", "animal", "knight", "warrior",
                "lighthouse", "tree", "river", "lake", "desert", "snow", "space", "planet"),
    "lighting": ("golden hour", "neon", "backlit", "rim light", "volumetric lighting",
                 "soft light", "studio lighting", "candlelight", "sunset", "sunrise", "night",
                 "moonlight", "dusk", "dawn", "god rays", "cinematic lighting"),
    "camera": ("close-up", "closeup", "wide angle", "macro", "bokeh", "depth of field",
               "35mm", "50mm", "85mm", "telephoto", "aerial", "drone shot", "fisheye",
               "long exposure", "tilt-shift", "film grain", "dslr"),
    "quality": ("highly detailed", "masterpiece", "best quality", "8k", "4k", "ultra detailed",
                "intricate", "sharp focus", "hdr"),
}
