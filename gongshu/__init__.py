"""gongshu (公数): the public data resource platform (公共数据资源平台) of a city."""

__version__ = "0.1.0"
