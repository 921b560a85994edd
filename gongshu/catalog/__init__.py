"""R6 R8 R9 R15–R18 R22 R24: the data resource catalog — entries, items, attributes, lifecycle, search.

Importing the package registers the catalog's workflow hooks (publication on approval, R6; changes, R9),
so that every path that decides a case — pages, API, command line, jobs — publishes the same way."""

from gongshu.catalog import service as service
