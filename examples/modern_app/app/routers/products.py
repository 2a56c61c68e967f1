from fastapi import APIRouter, Depends, HTTPException, status

from ..deps import SessionDep, require_admin
from ..models import Product
from ..schemas import BestSeller, CatalogueImport, ProductIn, ProductOut, Restock
from ..services import best_sellers, import_products

router = APIRouter(prefix="/products", tags=["products"])


@router.post("/import", dependencies=[Depends(require_admin)])
async def import_catalogue(rows: list[ProductIn], session: SessionDep) -> CatalogueImport:
    async with session.begin():
        imported = await import_products(session, rows)
    return CatalogueImport(imported=imported)


@router.post("/{product_id}/restock", dependencies=[Depends(require_admin)])
async def restock_product(product_id: int, payload: Restock, session: SessionDep) -> ProductOut:
    async with session.begin():
        product = await session.get(Product, product_id, with_for_update=True)
        if product is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND)
        product.stock += payload.quantity
    return ProductOut.of(product)


@router.get("/best-sellers")
async def list_best_sellers(session: SessionDep, limit: int = 10) -> list[BestSeller]:
    return await best_sellers(session, limit)
