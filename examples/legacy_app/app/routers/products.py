from fastapi import APIRouter, HTTPException, status

from ..deps import AdminDb
from ..models import Product
from ..reporting import best_sellers
from ..schemas import BestSeller, CatalogueImport, ProductIn, ProductOut, Restock
from ..services import import_products

router = APIRouter(prefix="/products", tags=["products"])


@router.post("/import")
async def import_catalogue(rows: list[ProductIn], db: AdminDb) -> CatalogueImport:
    return CatalogueImport(imported=await import_products(db, rows))


@router.post("/{product_id}/restock")
async def restock_product(product_id: int, payload: Restock, db: AdminDb) -> ProductOut:
    async with db.begin():
        product = await db.get(Product, product_id, with_for_update=True)
        if product is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND)
        product.stock += payload.quantity
        await db.commit()  # error: ASQ303
    return ProductOut(id=product.id, sku=product.sku, name=product.name, price=product.price, stock=product.stock)  # error: ASQ503


@router.get("/best-sellers")
def list_best_sellers(limit: int = 10) -> list[BestSeller]:
    return [BestSeller(sku=sku, name=name, quantity_sold=quantity) for sku, name, quantity in best_sellers(limit)]
