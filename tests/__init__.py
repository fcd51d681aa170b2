from . import test_access
from . import test_set_api_key
from . import test_sync
from . import test_sync_resume
