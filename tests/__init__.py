from . import test_access
from . import test_set_api_key
from . import test_sync
from . import test_sync_resume
from . import test_purge
from . import test_partners
