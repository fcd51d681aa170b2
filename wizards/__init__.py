from . import set_api_key
