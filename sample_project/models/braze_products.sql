select sku, title, category, price, in_stock
from {{ ref('raw_products') }}
