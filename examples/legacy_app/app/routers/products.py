from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from ..deps import get_db
from ..models import Product
from ..reporting import best_sellers
from ..schemas import BestSeller, CatalogueImport, ProductIn, ProductOut, Restock
from ..services import import_products

router = APIRouter(prefix="/products", tags=["products"])


@router.post("/import")
async def import_catalogue(rows: list[ProductIn], db: AsyncSession = Depends(get_db)) -> CatalogueImport:
    return CatalogueImport(imported=await import_products(db, rows))


@router.post("/{product_id}/restock")
async def restock_product(product_id: int, payload: Restock, db: AsyncSession = Depends(get_db)) -> ProductOut:
    async with db.begin():
        product = await db.get(Product, product_id, with_for_update=True)
        if product is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND)
        product.stock += payload.quantity
        await db.commit()  # error: ASQ303
    return ProductOut.of(product)


@router.get("/best-sellers")
def list_best_sellers(limit: int = 10) -> list[BestSeller]:
    return [BestSeller(sku=sku, name=name, quantity_sold=quantity) for sku, name, quantity in best_sellers(limit)]
