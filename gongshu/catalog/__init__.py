"""R6 R8 R9 R15–R18 R22 R24: the data resource catalog — entries, items, attributes, lifecycle, search.

Importing the package registers the catalog's workflow hooks (publication on approval, R6; changes and duty
transfers, R9; attribute disputes, R15; IT project acceptance, R8), so that every path that decides a case —
pages, API, command line, jobs — acts the same way."""

from gongshu.catalog import dispute as dispute
from gongshu.catalog import projects as projects
from gongshu.catalog import service as service
from gongshu.catalog import transfer as transfer
