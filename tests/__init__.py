from . import test_access
from . import test_set_api_key
